"""manage.py sso_link: link an existing portal account to a single sign-on identity, by the provider's subject or by
an e-mail address the administrator confirms (never by a name, which a provider may let anyone choose)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts import sso
from accounts.models import ProviderAccount
from accounts.signals import identity_linked


class Command(BaseCommand):
    help = (
        "Link an existing portal account to single sign-on, for accounts made before sign-ins linked accounts to "
        "identities, or made by hand for someone. --subject SUB binds it at once to the provider's identity with "
        "that subject (the `sub` claim; --issuer, by default the configured provider's); --email ADDRESS binds it at "
        "the next sign-in whose provider says it verified that address. Its local password then stops signing in "
        "(unless OIDC_LINK_KEEPS_PASSWORD). Superuser accounts only with --allow-superuser. Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the portal account to link")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--subject", help="the provider's subject (sub claim) of the person's identity")
        how.add_argument("--email", help="an e-mail address you confirmed is theirs, verified by the provider")
        parser.add_argument("--issuer", help="the provider's issuer (default: the configured provider's)")
        parser.add_argument("--allow-superuser", action="store_true", help="link a superuser account too")

    def handle(self, *args, username, subject=None, email=None, issuer=None, allow_superuser=False, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account named {username}; nothing was linked.")
        if user.is_superuser and not allow_superuser:
            raise CommandError(
                f"{username} is a superuser: whoever holds the linked identity would be one too. Give "
                "--allow-superuser if that is meant."
            )
        if subject is not None:
            self._bind_subject(user, subject.strip(), (issuer or self._configured_issuer()).strip())
        else:
            self._await_email(user, (email or "").strip(), issuer)

    def _configured_issuer(self) -> str:
        try:
            issuer = sso.provider().get("issuer") if sso.enabled() else None
        except sso.ProviderUnavailable as exc:
            raise CommandError(f"{exc} Give --issuer to link without asking it.") from None
        if not issuer:
            raise CommandError("The provider's issuer is not known here (no discovery document): give --issuer.")
        return issuer

    def _bind_subject(self, user, subject: str, issuer: str) -> None:
        if not subject or not issuer:
            raise CommandError("Give the subject and the issuer of the identity; nothing was linked.")
        try:
            sso.link(user, issuer, subject, "an administrator (manage.py sso_link --subject)", via="cli")
        except IntegrityError:
            taken = ProviderAccount.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
            owner = taken.user.get_username() if taken else "another account"
            raise CommandError(f"That identity is linked to {owner} already; nothing was linked.") from None
        self.stdout.write(f"{user.username}: linked to subject {subject!r} at {issuer}.{self._password_note()}")

    def _await_email(self, user, email: str, issuer: str | None) -> None:
        if issuer:
            raise CommandError("--issuer goes with --subject; an e-mail link binds to whoever verified it.")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an e-mail address; nothing was linked.") from None
        if ProviderAccount.objects.filter(user=user).exclude(subject="").exists():
            raise CommandError(f"{user.username} is linked already; nothing was changed.")
        if ProviderAccount.objects.filter(subject="", email__iexact=email).exclude(user=user).exists():
            raise CommandError(f"Another account awaits a sign-in with {email}; nothing was linked.")
        with transaction.atomic():
            ProviderAccount.objects.update_or_create(user=user, defaults={"issuer": "", "subject": "", "email": email})
        identity_linked.send(
            sender=ProviderAccount,
            user=user,
            issuer="(its next sign-in)",
            subject="",
            how=f"an administrator, to the next sign-in with the verified address {email} (manage.py sso_link --email)",
            via="cli",
        )
        self.stdout.write(
            f"{user.username}: its next sign-in through the provider with the verified address {email} links it."
        )

    @staticmethod
    def _password_note() -> str:
        if settings.OIDC_LINK_KEEPS_PASSWORD:
            return " Its local password still signs in too (OIDC_LINK_KEEPS_PASSWORD)."
        return " Its local password no longer signs in."
