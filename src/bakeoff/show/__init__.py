"""Showing: a view computed from a report, then the terminal table, comparison text, HTML page
with charts, and CSV.

Reads reports and comparisons; never measures, decides gates or writes reports.
"""
