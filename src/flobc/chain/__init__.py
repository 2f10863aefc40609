"""The ledger: transactions, blocks, commit certificates, validator set and storage."""
