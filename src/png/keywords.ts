/** PNG text keywords and identifiers Easel writes and reads. */
export const EASEL_KEYWORD = 'easel';
export const EASEL_SCHEMA = 'easel/1';
export const XMP_KEYWORD = 'XML:com.adobe.xmp';
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
