"""Customer insights computed from the live profile and transaction history."""
