"""FLoBC: decentralized federated learning over a Byzantine-fault-tolerant blockchain.

Layers, in the one direction they depend on each other:
``encoding``/``crypto`` → ``chain`` → ``consensus`` → ``app`` → ``node`` → ``cli``/``experiments``.
``algorithms`` (aggregation, reputation, sync rules) are pure functions used by ``app``;
``ml`` (models, data, training) is a library used by trainer and validator workers.
"""

__version__ = "0.1.0"
