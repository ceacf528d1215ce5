from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.crypto import TokenDecryptionError, rotate
from jobs.models import StoredToken


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored ArcGIS token under the first key of TOKEN_ENCRYPTION_KEYS. "
        "Rotate by putting a new key first, running this, then removing the old key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="only print a fresh key to put first")

    def handle(self, *args, new_key=False, **options):
        if new_key:
            self.stdout.write(Fernet.generate_key().decode())
            return
        rotated, unreadable = 0, []
        with transaction.atomic():
            for stored in StoredToken.objects.select_for_update().only("pk", "ciphertext"):
                try:
                    stored.ciphertext = rotate(bytes(stored.ciphertext))
                except TokenDecryptionError:
                    unreadable.append(stored.pk)
                    continue
                stored.save(update_fields=["ciphertext"])
                rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} stored token(s) under the first key.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} token(s) could not be decrypted with any configured key (ids {unreadable}); "
                "their operators must reconnect."
            )
