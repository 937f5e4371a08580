"""The local demo: a Discourse-shaped forum, an SMTP sink and one monitoring cycle."""
