"""The Subsonic and OpenSubsonic API under /rest/, for phone and desktop music apps."""
