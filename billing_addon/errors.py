"""What every refused operation of the add-on is: a ``Refusal``.

Each module raises its own kind (AccountError, AmountError, RateError, CallError,
SettingError, ConfigError, web's AuthError); the command line prints any of them as
``error: REASON`` and exits with 1 (billing_addon.cli.main).  Part of the pure core: it
imports nothing.
"""


class Refusal(ValueError):
    """An operation refused for a reason the user can act on; the message says why."""
