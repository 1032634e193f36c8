"""The billing service: monthly quotas, atomic token reservations and the exact usage ledger (ledger.py)."""
