"""Webhook delivery: signing, SSRF policy and the retry schedule, kept pure where possible."""
