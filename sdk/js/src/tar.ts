/**
 * A deterministic tar of a build context (what the Python SDK's `pack` makes): sorted, without
 * owners, links kept as links; a link that points out of the folder, or anything but files,
 * folders and links, is refused before anything is sent. `.dockerignore` patterns (and `.git`)
 * are left out. ustar headers, with a PAX record for names ustar cannot hold.
 */

import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { lstat, readFile, readdir, readlink, realpath } from 'node:fs/promises'
import { dirname, join, posix, relative, resolve, sep } from 'node:path'

import { InvalidRequestError } from './errors.js'

const BLOCK = 512
const encoder = new TextEncoder()

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function header(name: string, type: string, size: number, mode: number, mtime: number, link = '') {
  const block = new Uint8Array(BLOCK)
  const put = (text: string, offset: number, width: number) => {
    block.set(encoder.encode(text).subarray(0, width), offset)
  }
  put(name, 0, 100)
  put(octal(mode & 0o7777, 8), 100, 8)
  put(octal(0, 8), 108, 8) // uid
  put(octal(0, 8), 116, 8) // gid
  put(octal(size, 12), 124, 12)
  put(octal(mtime, 12), 136, 12)
  put('        ', 148, 8) // the checksum counts its own field as spaces
  put(type, 156, 1)
  put(link, 157, 100)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const byte of block) sum += byte
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return block
}

function paxRecord(key: string, value: string): string {
  // "<length> key=value\n", the length counting its own digits.
  const base = encoder.encode(` ${key}=${value}\n`).byteLength
  let length = base + 1
  while (base + String(length).length !== length) length = base + String(length).length
  return `${length} ${key}=${value}\n`
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK)
}

/** Python's fnmatch: `*` matches anything (`/` too), `?` one character, `[...]` a set. */
function globRegExp(pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') out += '.*'
    else if (c === '?') out += '.'
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) out += '\\['
      else {
        let set = pattern.slice(i + 1, end).replace(/\\/g, '\\\\')
        if (set.startsWith('!')) set = '^' + set.slice(1)
        out += `[${set}]`
        i = end
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  return new RegExp(`^${out}$`, 's')
}

async function ignorePatterns(root: string): Promise<string[]> {
  const patterns = ['.git']
  let text: string
  try {
    text = await readFile(join(root, '.dockerignore'), 'utf8')
  } catch {
    return patterns
  }
  for (let line of text.split('\n')) {
    line = line.trim()
    if (line && !line.startsWith('#')) patterns.push(line.replace(/^\/+/, ''))
  }
  return patterns
}

function ignored(relativePath: string, patterns: string[]): boolean {
  return patterns.some(
    (p) => globRegExp(p).test(relativePath) || relativePath.startsWith(p.replace(/\/+$/, '') + '/'),
  )
}

async function* walk(root: string, folder: string, patterns: string[]): AsyncGenerator<string> {
  const names = (await readdir(folder)).sort()
  for (const name of names) {
    const path = join(folder, name)
    if (ignored(relative(root, path).split(sep).join('/'), patterns)) continue
    yield path
    const stat = await lstat(path) // links to folders are not followed
    if (stat.isDirectory()) yield* walk(root, path, patterns)
  }
}

function inside(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(sep) ? root : root + sep)
}

/** Write a tar of `folder` to the file `out`; the sha256 (hex) of its bytes. */
export async function pack(folder: string, out: string): Promise<string> {
  const root = await realpath(resolve(folder))
  const patterns = await ignorePatterns(root)
  const digest = createHash('sha256')
  const file = createWriteStream(out)
  const failed = new Promise<never>((_, reject) => file.on('error', reject))
  failed.catch(() => undefined)
  const write = async (bytes: Uint8Array) => {
    digest.update(bytes)
    if (!file.write(bytes)) {
      await Promise.race([new Promise((r) => file.once('drain', r)), failed])
    }
  }
  try {
    for await (const path of walk(root, root, patterns)) {
      const name = relative(root, path).split(sep).join(posix.sep)
      const stat = await lstat(path)
      const mtime = Math.floor(stat.mtimeMs / 1000)
      let type: string
      let link = ''
      if (stat.isSymbolicLink()) {
        link = await readlink(path)
        let target = resolve(dirname(path), link)
        target = await realpath(target).catch(() => target)
        if (!inside(root, target)) throw new InvalidRequestError(`${name} links out of the build context`)
        type = '2'
      } else if (stat.isDirectory()) {
        type = '5'
      } else if (stat.isFile()) {
        type = '0'
      } else {
        throw new InvalidRequestError(`${name} is not a file, folder or link`)
      }
      const size = type === '0' ? stat.size : 0
      const tarName = type === '5' ? name + '/' : name
      if (encoder.encode(tarName).byteLength > 100 || encoder.encode(link).byteLength > 100) {
        let records = paxRecord('path', tarName)
        if (link) records += paxRecord('linkpath', link)
        const data = encoder.encode(records)
        await write(header('././@PaxHeader', 'x', data.byteLength, 0o644, mtime))
        await write(data)
        await write(padding(data.byteLength))
      }
      await write(header(tarName.slice(0, 100), type, size, stat.mode, mtime, link.slice(0, 100)))
      if (type === '0') {
        let written = 0
        for await (const chunk of createReadStream(path)) {
          const bytes = chunk as Uint8Array
          const take = bytes.subarray(0, Math.max(0, size - written)) // a file that grew: its size
          await write(take)
          written += take.byteLength
        }
        if (written < size) throw new InvalidRequestError(`${name} changed while it was read`)
        await write(padding(size))
      }
    }
    await write(new Uint8Array(BLOCK * 2))
  } finally {
    await Promise.race([new Promise((r) => file.end(r)), failed])
  }
  return digest.digest('hex')
}
