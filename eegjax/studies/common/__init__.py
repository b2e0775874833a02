"""What every study shares and no study owns (see `eegjax.studies`)."""
