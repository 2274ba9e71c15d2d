"""Web plumbing both apps share: login, CSRF, error pages, template filters."""
