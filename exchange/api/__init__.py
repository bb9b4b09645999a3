"""The department API (/api/v1/): department systems push records into the same import pipeline as uploaded
files (来源可溯) and pull what they are entitled to, every answer recorded as a share (去向可查).

Modules: models (clients, tokens, pushes, shares), datasets (what each pull may return), services (writes),
auth (token authentication, scopes, per-client rate limits), errors (one JSON error shape), push and pull
(the endpoints), urls.
"""
