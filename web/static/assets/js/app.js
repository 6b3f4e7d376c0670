// Entry point of the console (see router.js for the page-module pattern).
import {start} from './router.js';

start();
