"""Core of Treadle: settings, storage, ids, errors and the domain services both doors use."""
