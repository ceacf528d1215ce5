"""Webhook URLs are kept encrypted under TOKEN_ENCRYPTION_KEYS, like operators' tokens (their path is the secret
of a Slack or Teams webhook): each stored URL is encrypted, then the plain column goes."""

from django.db import migrations, models

from jobs.crypto import decrypt_text, encrypt_text


def encrypt(apps, schema_editor):
    AlertChannel = apps.get_model("policies", "AlertChannel")
    for channel in AlertChannel.objects.exclude(url=""):
        channel.url_ciphertext = encrypt_text(channel.url)
        channel.save(update_fields=["url_ciphertext"])


def decrypt(apps, schema_editor):
    AlertChannel = apps.get_model("policies", "AlertChannel")
    for channel in AlertChannel.objects.exclude(url_ciphertext=b""):
        channel.url = decrypt_text(bytes(channel.url_ciphertext), "webhook URL")
        channel.save(update_fields=["url"])


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="alertchannel",
            name="url_ciphertext",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.RunPython(encrypt, decrypt),
        migrations.RemoveField(
            model_name="alertchannel",
            name="url",
        ),
    ]
