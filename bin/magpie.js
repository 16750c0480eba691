#!/usr/bin/env node
// Node entry: registers the TypeScript loader, then runs the CLI from source.
import { register } from 'tsx/esm/api';

register();
await import('../scripts/magpie.ts');
