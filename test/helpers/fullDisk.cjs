// Preloaded with `node --require` where no tmpfs can be mounted: files opened for writing under
// $EASEL_TEST_FULL_DISK get half their bytes written and then ENOSPC, as on a disk that filled up.
const fsPromises = require('node:fs/promises');
const { resolve, sep } = require('node:path');

const full = resolve(process.env.EASEL_TEST_FULL_DISK);
const open = fsPromises.open;
fsPromises.open = async function openOnFullDisk(path, flags, mode) {
  const handle = await open(path, flags, mode);
  if (!resolve(String(path)).startsWith(full + sep) || flags === 'r' || flags === undefined) return handle;
  handle.writeFile = async (data) => {
    await handle.write(data, 0, Math.floor(data.length / 2));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  };
  return handle;
};
