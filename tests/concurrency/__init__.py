"""The multi-instance tier. A package, so that its package-scoped fleet stops as soon as
this folder's tests are done rather than at the end of the session."""
