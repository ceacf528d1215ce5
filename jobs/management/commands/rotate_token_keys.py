from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.crypto import ENCRYPTED_FIELDS, TokenDecryptionError, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (operators' ArcGIS tokens, webhook URLs) under the first key of "
        "TOKEN_ENCRYPTION_KEYS. Rotate by putting a new key first, running this, then removing the old key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="only print a fresh key to put first")

    def handle(self, *args, new_key=False, **options):
        if new_key:
            self.stdout.write(Fernet.generate_key().decode())
            return
        problems = []
        with transaction.atomic():
            for model, field, noun in ENCRYPTED_FIELDS:
                rotated, unreadable = 0, []
                for row in model.objects.select_for_update().only("pk", field):
                    ciphertext = bytes(getattr(row, field) or b"")  # nullable fields hold nothing yet
                    if not ciphertext:
                        continue
                    try:
                        setattr(row, field, rotate(ciphertext))
                    except TokenDecryptionError:
                        unreadable.append(row.pk)
                        continue
                    row.save(update_fields=[field])
                    rotated += 1
                self.stdout.write(f"Re-encrypted {rotated} stored {noun}(s) under the first key.")
                if unreadable:
                    problems.append(
                        f"{len(unreadable)} {noun}(s) could not be decrypted with any configured key (ids {unreadable})"
                    )
        if problems:
            raise CommandError(
                f"{'; '.join(problems)}. Their operators must reconnect; webhook URLs must be entered again."
            )
