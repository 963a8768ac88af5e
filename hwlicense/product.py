"""The product the license format is for: the ``product:`` field of every billing.ac and
license, what a box accepts and what the sales tool issues (docs/formats.md).

It belongs to the format, like the signing domain in license.py and the vendor keys, not
to the add-on's code: the sales tool, which runs without the add-on, needs it too.
"""

PRODUCT = "coovox-billing"

# The feature a license must include for the box to bill calls (``features:`` field).
BILLING_FEATURE = "billing"
