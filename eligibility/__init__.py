"""Eligibility cross-checks (比对): the registry and the assistance payments checked against department records
(deaths, vehicles, companies, public payroll, property, payment lists). A check is data (CrossCheck); a run lists
its hits per township with the evidence (the department record and its batch); an official verifies each hit,
and nothing is acted on automatically."""
