"""Never a 500 on bad input: a corpus of hostile values, in every field, of every dialect.

Each case takes a request the dialect accepts and puts one hostile value in one field (a JSON
literal as the client writes it, or a parameter's text); the answer must be a 4xx in the
dialect's error shape whose message names the field (``test_json_fields``). Also: numeric
parameters with Unicode or thousands of digits, malformed IPv6 literals in callback URLs, raw
invalid UTF-8 bodies, non-ASCII and binary ``Authorization`` headers
(``test_parameters_and_headers``), ``HEAD`` and ``OPTIONS`` on every route
(``test_routes_then_storage``). At the end, no NaN or Infinity is stored anywhere in Redis.

The whole package shares one app, account and Redis database (the package-scoped ``api`` fixture
of ``conftest.py``), so the last test, which scans Redis, sees what every case before it left
there: pytest runs this package's modules in name order, and ``test_routes_then_storage`` sorts
last on purpose.
"""
