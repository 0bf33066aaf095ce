"""The music library, one module per concern:

- access: what a user may see (visible_to, the seek lookup, own-versus-visible)
- catalogue: tags cleaned and folded, artists and albums found or created, pruned
- browse: pages of tracks, albums, artists and genres; search
- adding: uploads and server-side imports, with their outcome
- editing: changing tags and visibility, deleting
- artwork: cover pictures owners upload for a track or their tracks of an album
- quotas: room used and allowed
"""
