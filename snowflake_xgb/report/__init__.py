"""The training report: the HTML page, its charts, validation scores counted across hosts, and
the job's summary that feeds them.
"""
