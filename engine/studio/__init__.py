"""The process owner's studio (issue 19): drafts, diff, deploy with a note, moving running cases."""
