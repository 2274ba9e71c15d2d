"""The researcher-facing portal: search page, record pages and the JSON search API."""
