"""The federated-learning state machine: updates, votes, decisions, trust, model versions.

Every validator executes it identically from ledger contents alone. It reads only
content-addressed blobs that transactions reference (verified by hash), never local
files, and runs no ML: validators evaluate updates off the consensus path and put their
scores on the ledger as vote transactions.
"""
