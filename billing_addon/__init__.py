"""Call-billing add-on for U20/U50-class IP PBX appliances."""

__version__ = "0.1.0"
