"""The parts of a chain node, one concern each, behind one façade.

:class:`~flobc.node.validator.ValidatorNode` composes them.

Lower modules never import higher ones: ``context`` ← ``admission``, ``data_availability``
← ``block_check``, ``block_builder`` ← ``consensus_driver`` ← ``block_sync``, ``gossip``,
``status``. Each part reads and writes the shared :class:`~.context.NodeContext` (identity,
storage, the application and the node's clock) and returns runtime actions.
"""
