"""A site's CA bundle becomes the PEM text itself (security review, finding 8): a path named a file on one
host only. Each path is read once, here; a bundle that cannot be read (or holds no certificates) is
cleared, and said so, so that site verifies against the system's trusted CAs until a site admin pastes it.
"""

from pathlib import Path

from cryptography import x509
from django.db import migrations, models

import jobs.models


def read_bundles(apps, schema_editor):
    Site = apps.get_model("jobs", "Site")
    for site in Site.objects.exclude(ca_bundle=""):
        if site.ca_bundle.lstrip().startswith("-----BEGIN"):
            continue  # PEM already
        try:
            pem = Path(site.ca_bundle).read_text(encoding="utf-8")
            x509.load_pem_x509_certificates(pem.encode())
            if "PRIVATE KEY" in pem:
                raise ValueError("it holds a private key")
        except (OSError, ValueError) as exc:
            print(
                f"\n  Site {site.slug}: could not read a CA bundle from {site.ca_bundle} ({exc}); cleared it. "
                "Paste the CA's PEM certificates on the site in the admin.",
                end="",
            )
            pem = ""
        site.ca_bundle = pem
        site.save(update_fields=["ca_bundle"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_audit_follows_the_site"),
    ]

    operations = [
        migrations.AlterField(
            model_name="site",
            name="ca_bundle",
            field=models.TextField(
                blank=True,
                help_text="The PEM certificate(s) of the CA that signed the server's certificate (or of a "
                "self-signed server). Empty: the system's trusted CAs.",
                validators=[jobs.models.validate_ca_bundle],
                verbose_name="CA bundle",
            ),
        ),
        migrations.RunPython(read_bundles, migrations.RunPython.noop),
    ]
