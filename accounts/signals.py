"""What single sign-on tells the layers above it, which act on it: the audit trail records both, and cancel
policies pause when their owner loses their roles."""

from django.dispatch import Signal

# An account was linked to a provider's identity: user, issuer, subject, how (in words), via ("cli" or "web").
identity_linked = Signal()

# The provider no longer gives an account its roles (removed from its groups, or it refused to confirm them):
# user, reason (in words). The roles are gone when this is sent.
roles_lost = Signal()
