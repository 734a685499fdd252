/** Reading an ISO9660 volume: descriptors, directories, Rock Ridge / Joliet names, files on demand. */
export { readDescriptors, hasCd001, volumeFacts, type NameMode, type DescriptorInfo } from './descriptors.js';
export { IsoVolume, iso9660Filesystem, type IsoVolumeInfo, type MountOptions } from './volume.js';
