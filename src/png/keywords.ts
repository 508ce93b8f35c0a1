/** PNG text keywords and identifiers Easel writes and reads. */
export const EASEL_KEYWORD = 'easel';
/** AUTOMATIC1111's infotext chunk (also Forge's, SD.Next's and Fooocus's JSON). */
export const INFOTEXT_KEYWORD = 'parameters';
export const EASEL_SCHEMA = 'easel/1';
export const XMP_KEYWORD = 'XML:com.adobe.xmp';
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
