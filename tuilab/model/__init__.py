"""Model building: layer list -> keras.Model; summaries and BatchNorm variables."""
