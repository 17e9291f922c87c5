"""Searches: experiments that propose their own runs (docs/searches.md).

`space` checks a search space against the base spec, `schemas` the request and answers, `store` keeps
searches and reads their state, `study` rebuilds an Optuna study from that state to propose and prune,
`cost` counts GPU-hours, `advance` is the dispatcher's step for every active search, `report` what the API
answers about one.
"""
