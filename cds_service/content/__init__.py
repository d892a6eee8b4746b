"""Card content: the files under ``cards/`` that informaticists tune, loaded, validated and rendered."""
