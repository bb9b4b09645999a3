"""Departments declared as data (部门声明): an administrator declares a feed's columns, their types, code
tables and limits in the admin or a declaration file; its files and API pushes go through the same pipeline
as the typed departments, into one record table (DeclaredRecord) that keeps the declared columns as JSON."""
