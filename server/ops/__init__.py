"""Operations: the nightly job, backups and restores, metrics."""
