import packageJson from '../package.json';

export const EASEL_VERSION: string = packageJson.version;
export const EASEL_SOFTWARE = `Easel ${EASEL_VERSION}`;
