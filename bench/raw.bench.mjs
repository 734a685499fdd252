// raw → raw on the 1 GiB half-data image: diskit beside cp --sparse=always and qemu-img convert.
export default async function (ctx) {
  const src = ctx.halfImage();
  const out = `${ctx.tmp}/raw-out.img`;
  const before = () => ctx.rm(out);
  const rows = [
    ctx.measure('diskit convert -O raw', ['node', ctx.diskit, 'convert', '-O', 'raw', src, out], { before }),
    ctx.measure('cp --sparse=always', ['cp', '--sparse=always', src, out], { before }),
  ];
  if (ctx.hasTool('qemu-img')) rows.push(ctx.measure('qemu-img convert -O raw', ['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', src, out], { before }));
  // What any Node program pays before its first byte: the part of diskit's time the others do not have.
  rows.push(ctx.measure('node -e 0 (start-up alone)', ['node', '-e', '0']));
  rows.push(ctx.measure('diskit --version (start-up + CLI)', ['node', ctx.diskit, '--version']));
  // The floor under any copier here: only writing the 512 MiB of data into a new file, one 1 MiB
  // write after another (its time minus node -e 0's is the page cache's share).
  const writeOnly = `const fs=require('fs');const b=Buffer.alloc(1<<20,1);const fd=fs.openSync(${JSON.stringify(out)},'w');for(let m=0;m<1024;m+=2)fs.writeSync(fd,b,0,b.length,m*(1<<20));fs.closeSync(fd)`;
  rows.push(ctx.measure('node: write 512 MiB only', ['node', '-e', writeOnly], { before }));
  ctx.rm(out);
  ctx.report('raw → raw, 1 GiB half data', rows, {
    baseline: 'cp --sparse=always',
    targets: { 'diskit convert -O raw / cp --sparse=always': 1.0, 'diskit convert -O raw / qemu-img convert -O raw': 1.2 },
  });
}
