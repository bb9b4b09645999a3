"""The registry import (户档案导入): a county's household file from the national monitoring system's exports.

tables.py declares the exports' tables and columns; checks.py checks each row with the household file's
validators and the tables against each other; load.py writes what passed; writers.py writes many rows at
once; service.py is the one service the command and the upload page call.
"""
