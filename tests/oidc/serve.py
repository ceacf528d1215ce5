"""Runs the test OpenID provider: `python -m tests.oidc.serve` with the settings' variables and OIDC_TEST_SETUP
(JSON: the client and the users). Prints the port it listens on (127.0.0.1, chosen by the system), serves
until its standard input closes (the test ends) or OIDC_TEST_LIFETIME seconds pass, whichever is first."""

import json
import os
import sys
import threading
import wsgiref.simple_server


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def set_up(setup: dict) -> None:
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    client = setup["client"]
    Application.objects.create(
        name="GP Jobs Portal",
        client_id=client["id"],
        client_secret=client["secret"],  # kept hashed by django-oauth-toolkit
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=client["redirect_uri"],
        post_logout_redirect_uris=client.get("post_logout_redirect_uri", ""),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    for name, user in setup["users"].items():
        account = User.objects.create_user(name, email=user.get("email", ""), password=user["password"])
        account.groups.set([Group.objects.get_or_create(name=group)[0] for group in user.get("groups", [])])


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc.settings")
    import django
    from django.core.wsgi import get_wsgi_application

    django.setup()
    set_up(json.loads(os.environ["OIDC_TEST_SETUP"]))
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
    print(server.server_port, flush=True)

    def stop_when_the_test_ends() -> None:
        sys.stdin.read()  # returns when the test closes the pipe, or dies
        server.shutdown()

    threading.Thread(target=stop_when_the_test_ends, daemon=True).start()
    threading.Timer(float(os.environ.get("OIDC_TEST_LIFETIME", "300")), server.shutdown).start()
    server.serve_forever()
    os._exit(0)


if __name__ == "__main__":
    main()
