"""Department data exchange (数据交换): data that arrives from outside the household file.

Declared departments (declarations, departments), file readers (readers), row validation (validate), staging
and merge with history (load, pipeline, history), linkage to the household file by ID number (linkage),
data-quality rules (quality), import batches and rejected rows (models), and their pages, tasks and commands.
It sits above households: it reads and links to the household file, never the other way round.
"""
