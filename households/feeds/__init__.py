"""Department data exchange (部门数据): declared departments, import batches, source records with history,
linkage."""
