// The public surface of @switchboard/storage: every export is named here.
