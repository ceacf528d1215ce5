"""What jobs tells the apps above it, which act on it without jobs importing them (history's monitoring account
must not follow a site to a new address, as operators' tokens do not)."""

from django.dispatch import Signal

# Where or how a site is reached changed (Site.CONNECTION_FIELDS): site. Sent inside change_site's transaction, after
# the operators' stored tokens were revoked.
site_moved = Signal()
