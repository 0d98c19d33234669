"""Sign-in with Google, GitHub and Microsoft (OAuth2 authorization code flow with PKCE)."""
