import json
import os

from oauth2_provider.oauth2_validators import OAuth2Validator

# Whose e-mail address this provider says it verified (the test's setup: users with "email_verified": true).
VERIFIED = {
    name
    for name, user in json.loads(os.environ.get("OIDC_TEST_SETUP", '{"users": {}}'))["users"].items()
    if user.get("email_verified")
}


class GroupsValidator(OAuth2Validator):
    """Adds the user's name, e-mail (and whether it is verified) and groups (a custom claim) to the ID token and the
    userinfo."""

    oidc_claim_scope = None  # every claim, whatever the scopes

    def get_additional_claims(self, request):
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": user.username in VERIFIED,
            "groups": sorted(group.name for group in user.groups.all()),
        }
