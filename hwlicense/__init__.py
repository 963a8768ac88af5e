"""Hardware-bound licensing of the billing add-on: board profiles, device identity,
billing.ac, Ed25519-signed license files, the 30-day trial and activation state.

Entry points: hwlicense.board.load_profile, hwlicense.activation.Activation,
hwlicense.reset, hwlicense.box_cli.add_commands, hwlicense.sales_cli.main
(the billing-license tool).  Formats: docs/formats.md; workflow: docs/licensing.md.
"""
