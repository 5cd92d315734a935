"""Image–text models: an image encoder (a registered backbone) and the text tower that embeds texts in the
same space (`text_tower()`), for image–text retrieval and alignment. open_clip models (CLIP ViT-B/32,
CXR-RePaiR, any open_clip architecture or hub-format folder) and transformers folders (CLIP, SigLIP;
also vision-only folders such as RAD-DINO, which then have no text tower). This family sits above the
image and the text families, which know nothing of each other."""
